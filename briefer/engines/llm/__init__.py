"""The LLM engine (OpenAI or any compatible server). Only this package imports ``openai``."""

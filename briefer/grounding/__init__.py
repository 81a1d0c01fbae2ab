"""Grounding: is a claim or bullet tied to the passages it cites (quotes, numbers, support)?"""

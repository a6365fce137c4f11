"""Simulated OpenAI-compatible model server: the "virtual accelerator".

The timing is simulated from an accelerator preset; the HTTP, JSON and streaming are real.
"""

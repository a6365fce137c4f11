"""Sending runs elsewhere: OTLP (HTTP/gRPC, live from the span writer or a stored run) and Jaeger UI JSON.

The only package that does network I/O for traces; `render` turns a run into views, this sends it.
"""

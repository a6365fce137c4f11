"""In-process instrumentation: OTel SDK setup, LangChain callbacks to spans, CPU meter."""

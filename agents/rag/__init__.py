"""`rag`: retrieval-augmented QA over the standard library docs (BM25 + dense search, read, assemble)."""

from agents.base import AgentSpec, lazy_build
from agents.rag.tasks import tasks

SPEC = AgentSpec(
    name="rag",
    description="Retrieval QA over stdlib docstrings: BM25 + dense TF-IDF search (numpy), read, extractive answer",
    workload_class="RAG (Haystack-style retrieval pipeline; Raj et al. 2025)",
    build=lazy_build("agents.rag.graph:build"),
    tasks=tasks,
)

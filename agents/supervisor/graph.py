"""`supervisor`: a planner fans out to parallel researcher sub-agents (LangGraph Send) and merges them."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Send

from agents.rag.tools import library
from agents.rag.tools import make_tools as library_tools
from agents.react import dual, model_node, react_graph
from agents.supervisor.tasks import WORKER_PREFIX

SUPERVISOR_PROMPT = (
    "You coordinate researchers. Split the question into independent topics, delegate each topic "
    "(in parallel), then merge their findings into one answer."
)
WORKER_PROMPT = "You are a researcher. Search the documentation, read the best entry, report your findings briefly."


class Finding(TypedDict):
    call_id: str
    topic: str
    report: str


class SupervisorState(MessagesState):
    findings: Annotated[list[Finding], operator.add]


class ResearchTask(TypedDict):
    topic: str
    call_id: str


@tool
def delegate(topic: str) -> str:
    """Give one research topic to a researcher sub-agent; its findings come back as this call's result."""
    return topic  # never executed: the graph routes delegate calls to researcher nodes


def build(model: BaseChatModel) -> Any:
    lib = library()
    worker_tools = [t for t in library_tools(lib) if t.name in ("search_bm25", "search_dense", "read_document")]
    researcher_graph = react_graph(model, worker_tools, WORKER_PROMPT, name="researcher")
    planner = model.bind_tools([delegate])

    def fan_out(state: SupervisorState) -> list[Send] | str:
        last = state["messages"][-1]
        calls = getattr(last, "tool_calls", None) or []
        if not calls:
            return END
        return [Send("researcher", {"topic": c["args"]["topic"], "call_id": c["id"]}) for c in calls]

    def brief(task: ResearchTask) -> dict[str, Any]:
        return {"messages": [HumanMessage(WORKER_PREFIX + task["topic"])]}

    def finding(task: ResearchTask, result: dict[str, Any]) -> dict[str, Any]:
        report = str(result["messages"][-1].content)
        return {"findings": [{"call_id": task["call_id"], "topic": task["topic"], "report": report}]}

    def research(task: ResearchTask) -> dict[str, Any]:
        return finding(task, researcher_graph.invoke(brief(task)))

    async def aresearch(task: ResearchTask) -> dict[str, Any]:
        return finding(task, await researcher_graph.ainvoke(brief(task)))

    def collect(state: SupervisorState) -> dict[str, Any]:
        last_ai = next(m for m in reversed(state["messages"]) if isinstance(m, AIMessage))
        wanted = {c["id"] for c in last_ai.tool_calls}
        return {
            "messages": [
                ToolMessage(f["report"], tool_call_id=f["call_id"]) for f in state["findings"] if f["call_id"] in wanted
            ]
        }

    graph = StateGraph(SupervisorState)
    graph.add_node("supervisor", model_node(planner, SUPERVISOR_PROMPT))
    graph.add_node("researcher", dual(research, aresearch))
    graph.add_node("collect", collect)
    graph.add_edge(START, "supervisor")
    graph.add_conditional_edges("supervisor", fan_out, ["researcher", END])
    graph.add_edge("researcher", "collect")
    graph.add_edge("collect", "supervisor")
    return graph.compile(name="supervisor")

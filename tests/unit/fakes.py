"""An in-process chat model whose tool calls depend on the task, for span-structure tests."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition


class TaskEchoModel(BaseChatModel):
    """Turn 0: calls `lookup(key=<the user's text>)` with id `call-<text>`; then answers."""

    delay_s: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "task-echo"

    def bind_tools(self, tools: Any, **kwargs: Any) -> TaskEchoModel:
        return self

    def _reply(self, messages: list[BaseMessage]) -> ChatResult:
        text = next(str(m.content) for m in messages if isinstance(m, HumanMessage))
        turn = sum(isinstance(m, AIMessage) for m in messages)
        usage = {"input_tokens": 10 + turn, "output_tokens": 5, "total_tokens": 15 + turn}
        if turn == 0:
            message = AIMessage(
                "", tool_calls=[{"name": "lookup", "args": {"key": text}, "id": f"call-{text}"}], usage_metadata=usage
            )
        else:
            message = AIMessage(f"answer for {text}", usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: Any = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._reply(messages)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: Any = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        await asyncio.sleep(self.delay_s)
        return self._reply(messages)


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    if key == "explode":
        raise ValueError("tool exploded")
    return f"value of {key}"


def react_graph(model: BaseChatModel) -> Any:
    async def call(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call)
    graph.add_node("tools", ToolNode([lookup]))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    return graph.compile()

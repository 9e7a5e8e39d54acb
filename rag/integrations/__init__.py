"""Faces for other ecosystems: LangChain, LlamaIndex. Each one translates to ``Pipeline`` calls and back,
and holds no retrieval logic of its own (install the extras: ``leanrag[langchain]``, ``leanrag[llamaindex]``).
"""

"""The model-endpoint layer: configuration, the official client, retries, streaming, usage and cost.
The answerers (``rag.answer``) and the LLM reranker (``rag.retrieve.llm_rerank``) both stand on it."""

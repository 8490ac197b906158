"""End-to-end tests: the real `langgraph dev` server driven through the LangGraph SDK."""

"""The BentoML service (`service.py`) and what its endpoints hand to: analysis, predictions with their Redis
cache, semantic search, trends, access control, metrics, and the web page (`page/`)."""

"""voxtral-gateway: per-request, load-aware routing of OpenAI, KServe v1/v2 REST and v2 gRPC
calls across the ready replicas of Voxtral services. No vLLM, no KServe: HTTP through a raw
ASGI app and httpx, gRPC passed through as bytes."""

__version__ = "0.1.0"

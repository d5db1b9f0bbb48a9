"""HTTP: the FastAPI application and the uvicorn server that runs it."""

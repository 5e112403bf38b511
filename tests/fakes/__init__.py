"""Local stand-ins for cloud APIs (real HTTP servers on 127.0.0.1, port 0)."""

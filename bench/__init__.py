"""`python -m bench` (`make bench`): turn latency and throughput of Pantheon against its floors.

Not part of the hexagon: it drives a real server over HTTP and measures, in-process, a bare LangGraph
graph with AsyncPostgresSaver and the raw SQL a turn writes, on the same PostgreSQL.
"""

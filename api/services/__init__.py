"""What the routes do, without HTTP: record queries, ingest, reviews, figures, similar cases.

Routes parse the request, call a service and shape the answer; services reach the database,
the blob store and the model through what the route hands them (from `api.deps`). A service
may raise HTTPException for a missing record (404) or a refused upload (4xx), since every
caller answers those the same way.
"""

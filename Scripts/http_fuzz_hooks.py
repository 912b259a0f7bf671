"""Schemathesis hooks for Scripts/http-fuzz.sh.

A blocking query (`index` at or past the revision) rightly waits up to 5 minutes; the fuzzer would count that
as a timeout. Every generated `index` is set to 0, below the revision, so such reads answer at once; the
waiting itself is tested by the Swift suite (HTTPTests, blocking queries).
"""
import schemathesis


@schemathesis.hook
def map_query(context, query):
    if query and "index" in query:
        query["index"] = 0
    return query

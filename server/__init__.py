"""What the server needs beyond the graph: auth, HTTP routes (`http.app`), lifecycle hooks."""

"""``intelbus console``: a read-only web console for operators (Starlette pages served by uvicorn).

It shows what ``intelbus status`` shows (reloading every 5 s), the quarantine newest first with each
entry's reason (its content hidden until asked for), and an audit search of the decision log by
submission id, team and time. Logins are the ``operator`` Redis user's (``bus.console.login``): every read
is made with that user's read-only rights. The console writes nothing to the bus; before it shows a
quarantined entry's content it appends a hash-chained record of who saw what to its own log file
(``bus.console.log``), and shows nothing when it cannot.
"""

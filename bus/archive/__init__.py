"""The retention archive: where decided ingress, quarantine and the audit logs go before Redis lets them go
(``store``: segments and manifest; ``segment``: the file format; ``reader``: a log as archive + live)."""

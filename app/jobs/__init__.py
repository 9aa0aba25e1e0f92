"""Background jobs, run by the one dedicated scheduler process (`flask scheduler`), never in web workers."""

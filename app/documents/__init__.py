"""Documents in and out: xlsx/csv export with injection escaping, uploads, generic import jobs, A4 PDF printing."""

"""Low-code forms: form definitions are data; one generic engine serves every county's forms."""

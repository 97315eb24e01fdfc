"""Form definitions (versioned) and form records (JSON payload) per tenant."""

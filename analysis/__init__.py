"""Reading stored results and drawing them."""

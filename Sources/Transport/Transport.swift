// Transport: see ARCHITECTURE.md

// SwarmNode: see ARCHITECTURE.md

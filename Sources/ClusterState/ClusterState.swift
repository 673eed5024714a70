// ClusterState: see ARCHITECTURE.md

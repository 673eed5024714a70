print("swarmctl")

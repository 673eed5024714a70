import Orchestration
print("scheduler-bench: not yet written")

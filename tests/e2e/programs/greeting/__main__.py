from greeting import report

print(report())

"""How titanic.csv was made from the seaborn copy of the Titanic passenger
list (891 rows): the label `survived`, the numeric columns the model uses,
`sex` kept as text for the fairness measures, `male` as its 0/1 feature,
and missing ages filled with the median age (28.0), since Warden refuses
to impute silently for an ONNX model.

Usage: python prepare.py SEABORN_TITANIC_CSV > titanic.csv
"""

import csv
import statistics
import sys


def main():
    rows = list(csv.DictReader(open(sys.argv[1], newline="")))
    median = statistics.median(float(r["age"]) for r in rows if r["age"])
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["survived", "pclass", "sex", "male", "age", "sibsp", "parch", "fare"])
    for r in rows:
        male = 1 if r["sex"] == "male" else 0
        w.writerow([r["survived"], r["pclass"], r["sex"], male, r["age"] or median,
                    r["sibsp"], r["parch"], r["fare"]])


if __name__ == "__main__":
    main()

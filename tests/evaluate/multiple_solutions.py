"""Hand-written MultiPL-E completions (written for these tests): for each language, a correct
body and a broken one (compiles, wrong answer) for six HumanEval tasks."""

# task -> (correct, broken); the completion continues the prompt's open function (C++, Java,
# C# and Bash tests start with the closing brace, the others need it in the completion).

SOLUTIONS: dict[str, dict[str, tuple[str, str]]] = {
    "cpp": {
        "HumanEval_53_add": ("    return x + y;\n", "    return x - y;\n"),
        "HumanEval_55_fib": (
            "    long a = 0, b = 1;\n    for (long i = 0; i < n; i++) { long t = a + b; a = b; b = t; }\n    return a;\n",
            "    return n;\n",
        ),
        "HumanEval_48_is_palindrome": (
            "    return std::string(text.rbegin(), text.rend()) == text;\n",
            "    return true;\n",
        ),
        "HumanEval_13_greatest_common_divisor": (
            "    while (b) { long t = a % b; a = b; b = t; }\n    return a;\n",
            "    return 1;\n",
        ),
        "HumanEval_60_sum_to_n": ("    return n * (n + 1) / 2;\n", "    return n * n;\n"),
        "HumanEval_24_largest_divisor": (
            "    for (long d = n - 1; d > 0; d--) if (n % d == 0) return d;\n    return 1;\n",
            "    return n / 2;\n",
        ),
    },
    "java": {
        "HumanEval_53_add": ("        return x + y;\n", "        return x * y;\n"),
        "HumanEval_55_fib": (
            "        long a = 0, b = 1;\n        for (long i = 0; i < n; i++) { long t = a + b; a = b; b = t; }\n        return a;\n",
            "        return n + 1;\n",
        ),
        "HumanEval_48_is_palindrome": (
            "        return new StringBuilder(text).reverse().toString().equals(text);\n",
            "        return text.length() % 2 == 1;\n",
        ),
        "HumanEval_13_greatest_common_divisor": (
            "        while (b != 0) { long t = a % b; a = b; b = t; }\n        return a;\n",
            "        return Math.min(a, b);\n",
        ),
        "HumanEval_60_sum_to_n": ("        return n * (n + 1) / 2;\n", "        return n;\n"),
        "HumanEval_24_largest_divisor": (
            "        for (long d = n - 1; d > 0; d--) if (n % d == 0) return d;\n        return 1;\n",
            "        return 1;\n",
        ),
    },
    "php": {
        "HumanEval_53_add": ("  return $x + $y;\n}\n", "  return $x - $y;\n}\n"),
        "HumanEval_55_fib": (
            "  $a = 0; $b = 1;\n  for ($i = 0; $i < $n; $i++) { $t = $a + $b; $a = $b; $b = $t; }\n  return $a;\n}\n",
            "  return $n;\n}\n",
        ),
        "HumanEval_48_is_palindrome": (
            "  return strrev($text) === $text;\n}\n",
            "  return false;\n}\n",
        ),
        "HumanEval_13_greatest_common_divisor": (
            "  while ($b != 0) { $t = $a % $b; $a = $b; $b = $t; }\n  return $a;\n}\n",
            "  return 1;\n}\n",
        ),
        "HumanEval_60_sum_to_n": ("  return intdiv($n * ($n + 1), 2);\n}\n", "  return $n;\n}\n"),
        "HumanEval_24_largest_divisor": (
            "  for ($d = $n - 1; $d > 0; $d--) { if ($n % $d == 0) { return $d; } }\n  return 1;\n}\n",
            "  return 2;\n}\n",
        ),
    },
    "ts": {
        "HumanEval_53_add": ("  return x + y;\n}\n", "  return x - y;\n}\n"),
        "HumanEval_55_fib": (
            "  let a = 0, b = 1;\n  for (let i = 0; i < n; i++) { const t = a + b; a = b; b = t; }\n  return a;\n}\n",
            "  return n;\n}\n",
        ),
        "HumanEval_48_is_palindrome": (
            "  return text.split('').reverse().join('') === text;\n}\n",
            "  return true;\n}\n",
        ),
        "HumanEval_13_greatest_common_divisor": (
            "  while (b !== 0) { const t = a % b; a = b; b = t; }\n  return a;\n}\n",
            "  return a;\n}\n",
        ),
        "HumanEval_60_sum_to_n": ("  return (n * (n + 1)) / 2;\n}\n", "  return n * n;\n}\n"),
        "HumanEval_24_largest_divisor": (
            "  for (let d = n - 1; d > 0; d--) { if (n % d === 0) { return d; } }\n  return 1;\n}\n",
            "  return n - 1;\n}\n",
        ),
    },
    "cs": {
        "HumanEval_53_add": ("        return x + y;\n", "        return x - y;\n"),
        "HumanEval_55_fib": (
            "        long a = 0, b = 1;\n        for (long i = 0; i < n; i++) { long t = a + b; a = b; b = t; }\n        return a;\n",
            "        return n;\n",
        ),
        "HumanEval_48_is_palindrome": (
            "        char[] c = text.ToCharArray();\n        Array.Reverse(c);\n        return new string(c) == text;\n",
            "        return false;\n",
        ),
        "HumanEval_13_greatest_common_divisor": (
            "        while (b != 0) { long t = a % b; a = b; b = t; }\n        return a;\n",
            "        return b;\n",
        ),
        "HumanEval_60_sum_to_n": ("        return n * (n + 1) / 2;\n", "        return n + 1;\n"),
        "HumanEval_24_largest_divisor": (
            "        for (long d = n - 1; d > 0; d--) if (n % d == 0) return d;\n        return 1;\n",
            "        return n;\n",
        ),
    },
    "sh": {
        "HumanEval_53_add": ("    echo $(( $1 + $2 ))\n", "    echo $(( $1 * $2 ))\n"),
        "HumanEval_55_fib": (
            "    a=0; b=1\n    for ((i=0; i<$1; i++)); do t=$((a+b)); a=$b; b=$t; done\n    echo $a\n",
            "    echo $1\n",
        ),
        "HumanEval_48_is_palindrome": (
            '    if [[ "$1" == "$(echo -n "$1" | rev)" ]]; then echo true; else echo false; fi\n',
            "    echo true\n",
        ),
        "HumanEval_13_greatest_common_divisor": (
            "    a=$1; b=$2\n    while (( b != 0 )); do t=$((a % b)); a=$b; b=$t; done\n    echo $a\n",
            "    echo 1\n",
        ),
        "HumanEval_60_sum_to_n": ("    echo $(( $1 * ($1 + 1) / 2 ))\n", "    echo $1\n"),
        "HumanEval_24_largest_divisor": (
            "    for ((d=$1-1; d>0; d--)); do if (( $1 % d == 0 )); then echo $d; return; fi; done\n    echo 1\n",
            "    echo 1\n",
        ),
    },
    "js": {
        "HumanEval_53_add": ("  return x + y;\n}\n", "  return x + y + 1;\n}\n"),
        "HumanEval_55_fib": (
            "  let a = 0, b = 1;\n  for (let i = 0; i < n; i++) { [a, b] = [b, a + b]; }\n  return a;\n}\n",
            "  return n * 2;\n}\n",
        ),
        "HumanEval_48_is_palindrome": (
            "  return [...text].reverse().join('') === text;\n}\n",
            "  return text.length < 3;\n}\n",
        ),
        "HumanEval_13_greatest_common_divisor": (
            "  while (b) { [a, b] = [b, a % b]; }\n  return a;\n}\n",
            "  return a * b;\n}\n",
        ),
        "HumanEval_60_sum_to_n": ("  return (n * (n + 1)) / 2;\n}\n", "  return n;\n}\n"),
        "HumanEval_24_largest_divisor": (
            "  for (let d = n - 1; d > 0; d--) { if (n % d === 0) return d; }\n  return 1;\n}\n",
            "  return 0;\n}\n",
        ),
    },
}

# Go and Rust: the MultiPL-E layout, tasks written here (no data file is shipped for them).
GO_TASKS = [
    {
        "name": f"HumanEval_{name}",
        "prompt": f"package main\n\nimport \"testing\"\n\n{sig} {{\n",
        "tests": "}\n\nfunc TestCandidate(t *testing.T) {\n" + "".join(
            f"    if got := {call}; got != {want} {{ t.Fatalf(\"{call} = %v\", got) }}\n"
            for call, want in cases
        ) + "}\n",
        "stop_tokens": ["\nfunc", "struct", "\n// "],
        "_good": good,
        "_bad": bad,
    }
    for name, sig, cases, good, bad in [
        ("53_add", "func add(x int, y int) int", [("add(2, 3)", "5"), ("add(5, 7)", "12")],
         "    return x + y\n", "    return x - y\n"),
        ("60_sum_to_n", "func sum_to_n(n int) int", [("sum_to_n(30)", "465"), ("sum_to_n(1)", "1")],
         "    return n * (n + 1) / 2\n", "    return n\n"),
        ("55_fib", "func fib(n int) int", [("fib(10)", "55"), ("fib(12)", "144")],
         "    a, b := 0, 1\n    for i := 0; i < n; i++ { a, b = b, a+b }\n    return a\n", "    return n\n"),
        ("13_greatest_common_divisor", "func greatest_common_divisor(a int, b int) int",
         [("greatest_common_divisor(25, 15)", "5"), ("greatest_common_divisor(3, 7)", "1")],
         "    for b != 0 { a, b = b, a%b }\n    return a\n", "    return b\n"),
        ("24_largest_divisor", "func largest_divisor(n int) int",
         [("largest_divisor(15)", "5"), ("largest_divisor(49)", "7")],
         "    for d := n - 1; d > 0; d-- { if n%d == 0 { return d } }\n    return 1\n", "    return 1\n"),
    ]
]  # fmt: skip

RUST_TASKS = [
    {
        "name": f"HumanEval_{name}",
        "prompt": f"{sig} {{\n",
        "tests": "}\n\nfn main() {\n" + "".join(f"    assert_eq!({c}, {w});\n" for c, w in cases) + "}\n",
        "stop_tokens": ["\nfn ", "\n/*", "\n//"],
        "_good": good,
        "_bad": bad,
    }
    for name, sig, cases, good, bad in [
        ("53_add", "fn add(x: isize, y: isize) -> isize", [("add(2, 3)", "5"), ("add(5, 7)", "12")],
         "    x + y\n", "    x - y\n"),
        ("60_sum_to_n", "fn sum_to_n(n: isize) -> isize", [("sum_to_n(30)", "465"), ("sum_to_n(1)", "1")],
         "    n * (n + 1) / 2\n", "    n\n"),
        ("55_fib", "fn fib(n: isize) -> isize", [("fib(10)", "55"), ("fib(12)", "144")],
         "    let (mut a, mut b) = (0, 1);\n    for _ in 0..n { let t = a + b; a = b; b = t; }\n    a\n", "    n\n"),
        ("13_greatest_common_divisor", "fn greatest_common_divisor(a: isize, b: isize) -> isize",
         [("greatest_common_divisor(25, 15)", "5"), ("greatest_common_divisor(3, 7)", "1")],
         "    let (mut a, mut b) = (a, b);\n    while b != 0 { let t = a % b; a = b; b = t; }\n    a\n", "    b\n"),
        ("24_largest_divisor", "fn largest_divisor(n: isize) -> isize",
         [("largest_divisor(15)", "5"), ("largest_divisor(49)", "7")],
         "    (1..n).rev().find(|d| n % d == 0).unwrap_or(1)\n", "    1\n"),
    ]
]  # fmt: skip

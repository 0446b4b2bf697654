;; return_nonzero: returns 3 without calling fail.
;; Expected: the run fails with the host's generic error for a non-zero return
;; that names the code (e.g. "run returned 3").
(module
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (i32.const 3)))

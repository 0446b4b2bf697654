;; output_not_json: writes the output "this is not JSON" and returns 0.
;; Expected: the run fails: the output of a successful run must be one JSON
;; value.
(module
  (import "phasehost" "output_write" (func $output_write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "this is not JSON")  ;; 16, 16
  (func $run (export "run") (result i32)
    (drop (call $output_write (i32.const 16) (i32.const 16)))
    (i32.const 0)))

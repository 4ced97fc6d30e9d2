/* Values of the policy language (IR.md section 4): int, bool, tuple, space, task, proc, procset. */
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "space.h"

namespace hpcmap {

/* One processor of a space's kind: (node, index within node among processors of that kind). */
struct Proc {
  std::string kind;
  int64_t node = 0, index = 0;
};

/* The task a mapping function sees. */
struct TaskView {
  Tuple ipoint{0}, ispace{1};
  int64_t node = 0, proc = 0;  // the processor running the mapping call: (node, index within its kind)
  std::shared_ptr<const TaskView> parent;
};

struct Value {
  enum Kind { NONE, INT, BOOL, TUPLE, SPACE, TASK, PROC, PROCSET, KIND } kind = NONE;
  int64_t i = 0;  // INT, BOOL
  std::string word;  // KIND: a processor or memory kind word
  Tuple tuple;
  std::shared_ptr<const Space> space;
  std::shared_ptr<const TaskView> task;
  std::vector<Proc> procs;  // PROC: one element; PROCSET: the set in order

  static Value of_int(int64_t v) { Value x; x.kind = INT; x.i = v; return x; }
  static Value of_bool(bool v) { Value x; x.kind = BOOL; x.i = v; return x; }
  static Value of_tuple(Tuple t) { Value x; x.kind = TUPLE; x.tuple = std::move(t); return x; }
  static Value of_space(std::shared_ptr<const Space> s) { Value x; x.kind = SPACE; x.space = std::move(s); return x; }
  static Value of_task(std::shared_ptr<const TaskView> t) { Value x; x.kind = TASK; x.task = std::move(t); return x; }
  static Value of_kind(std::string w) { Value x; x.kind = KIND; x.word = std::move(w); return x; }

  /* "an int", "a tuple", ... as in error messages. */
  std::string type_name() const;
  /* print formatting (IR.md section 5). */
  std::string format() const;
};

}  // namespace hpcmap

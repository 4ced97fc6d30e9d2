/* Expression and statement semantics, mirroring hpcmap/dsl/evaluate.py. */
#include "evaluator.h"

#include <cstdint>
#include <cstdio>
#include <stdexcept>

#include "mapping_error.h"

namespace hpcmap {

namespace {

struct Return {
  Value value;
};

/* Deepest evaluation nesting (expressions and calls); the checker keeps expressions within 2000. */
constexpr int kMaxDepth = 5000;

struct DepthGuard {
  int &depth;
  explicit DepthGuard(int &d) : depth(d) { ++depth; }
  ~DepthGuard() { --depth; }
};

bool short_circuit(const std::string &op) { return op == "&&" || op == "||"; }

std::string replace_all(std::string s, const std::string &from, const std::string &to)
{
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

}  // namespace

void Evaluator::fail(const Node &n, const std::string &message) { throw MappingError(n.line, message); }

int64_t Evaluator::want_int(const Node &n, const Value &v, const std::string &what)
{
  if (v.kind != Value::INT) fail(n, what + " needs an int, got " + v.type_name());
  return v.i;
}

bool Evaluator::truth(const Node &n, const Value &v)
{
  if (v.kind == Value::BOOL || v.kind == Value::INT) return v.i != 0;
  fail(n, "a condition needs a bool or an int, got " + v.type_name());
}

const Value &Evaluator::global(int index)
{
  if (index < 0 || index >= (int)globals_.size()) throw MappingError(0, "unknown global " + std::to_string(index));
  if (!globals_[index]) {
    const Global &g = ir_.globals[index];
    std::vector<Value> frame(g.nslots);
    globals_[index] = eval(g.expr, frame);
  }
  return *globals_[index];
}

void Evaluator::run_prints()
{
  for (const TopPrint &p : ir_.prints) {
    std::vector<Value> frame(p.nslots);
    std::string text = print_text(p.format, p.args, frame);
    printf("%s\n", text.c_str());
  }
  fflush(stdout);
}

std::string Evaluator::print_text(const std::string &format, const std::vector<Node> &args, std::vector<Value> &frame)
{
  std::vector<std::string> values;
  for (const Node &a : args) values.push_back(eval(a, frame).format());
  std::string out;
  size_t start = 0, k = 0;
  for (size_t at = format.find("{}"); at != std::string::npos; at = format.find("{}", start)) {
    out += format.substr(start, at - start);
    out += k < values.size() ? values[k] : "{}";
    k++;
    start = at + 2;
  }
  out += format.substr(start);
  return replace_all(replace_all(out, "\\\"", "\""), "\\n", "\n");
}

Value Evaluator::call(const std::string &name, std::vector<Value> args, int line)
{
  const Function *f = ir_.function(name);
  if (!f) throw MappingError(line, "function '" + name + "' is not defined");
  if (args.size() != f->nparams)
    throw MappingError(line, "'" + name + "' takes " + std::to_string(f->nparams) + " argument(s), got " +
                                 std::to_string(args.size()));
  std::vector<Value> frame = std::move(args);
  frame.resize(std::max(f->nslots, frame.size()));
  for (const Stmt &s : f->body) {
    switch (s.op) {
      case Stmt::ASSIGN: frame[s.slot] = eval(s.expr, frame); break;
      case Stmt::RETURN: return eval(s.expr, frame);
      case Stmt::PRINT: {
        std::string text = print_text(s.format, s.args, frame);
        printf("%s\n", text.c_str());
        fflush(stdout);
        break;
      }
    }
  }
  throw MappingError(f->line, "function '" + name + "' ended without 'return'");
}

Value Evaluator::map(const std::string &fname, std::shared_ptr<const TaskView> task)
{
  const Function *f = ir_.function(fname);
  int line = f ? f->line : 0;
  Value v = call(fname, {Value::of_task(std::move(task))}, line);
  if (v.kind != Value::PROC && v.kind != Value::PROCSET)
    throw MappingError(line, fname + " returned " + v.type_name() + ", not a processor");
  return v;
}

std::vector<Value> Evaluator::values(const std::vector<Node> &items, size_t from, std::vector<Value> &frame)
{
  std::vector<Value> out;
  for (size_t k = from; k < items.size(); k++) {
    const Node &item = items[k];
    if (item.op != Node::UNPACK) {
      out.push_back(eval(item, frame));
      continue;
    }
    Value v = eval(item.kids[0], frame);
    if (v.kind == Value::TUPLE)
      for (int64_t x : v.tuple) out.push_back(Value::of_int(x));
    else if (v.kind == Value::INT)
      out.push_back(v);
    else
      fail(item, "'*' needs a tuple, got " + v.type_name());
  }
  return out;
}

bool Evaluator::has(const Node &n, std::vector<Value> &frame)
{
  Value obj = eval(n.kids[0], frame);
  std::string kind;
  if (n.has_lo) {
    if (obj.kind != Value::SPACE) fail(n, "'.has()' needs a machine space, got " + obj.type_name());
    int64_t i = want_int(n, eval(n.kids[1], frame), "an index");
    int64_t count = machine_.count(obj.space->kind());
    if (i < 0 || i >= count)
      fail(n, "index " + std::to_string(i) + " out of range for the " + std::to_string(count) + " " +
                  obj.space->kind() + " processors of a node");
    kind = obj.space->kind();
  } else if (obj.kind == Value::PROC) {
    kind = obj.procs[0].kind;
  } else {
    fail(n, "'.has()' needs a processor, got " + obj.type_name());
  }
  auto it = machine_.sees.find(kind);
  return it != machine_.sees.end() && it->second.count(n.name) > 0;
}

/* Kept small: every nesting level of an expression costs one eval frame (and a binary one), so the
 * cases that need temporaries live in compound(). */
Value Evaluator::eval(const Node &n, std::vector<Value> &frame)
{
  DepthGuard guard(depth_);
  if (depth_ > kMaxDepth) too_deep(n);
  switch (n.op) {
    case Node::INT: return Value::of_int(n.value);
    case Node::BINARY: return binary(n, frame);
    default: return compound(n, frame);
  }
}

void Evaluator::too_deep(const Node &n)
{
  fail(n, "evaluation nests more than " + std::to_string(kMaxDepth) + " levels deep");
}

Value Evaluator::compound(const Node &n, std::vector<Value> &frame)
{
  switch (n.op) {
    case Node::INT: return Value::of_int(n.value);
    case Node::BOOL: return Value::of_bool(n.value != 0);
    case Node::LOCAL:
      if (n.slot < 0 || n.slot >= (int)frame.size() || frame[n.slot].kind == Value::NONE)
        fail(n, "a variable is used before it is assigned");
      return frame[n.slot];
    case Node::GLOBAL: return global(n.slot);
    case Node::TUPLE: {
      Tuple t;
      for (const Value &v : values(n.kids, 0, frame)) t.push_back(want_int(n, v, "a tuple element"));
      return Value::of_tuple(std::move(t));
    }
    case Node::KIND: return Value::of_kind(n.name);
    case Node::UNPACK: fail(n, "'*' unpacks a tuple only inside a tuple, an index or a call's arguments");
    case Node::HAS: return Value::of_bool(has(n, frame));
    case Node::UNARY: {
      Value v = eval(n.kids[0], frame);
      if (n.name == "!") return Value::of_bool(!truth(n, v));
      if (v.kind == Value::INT) return Value::of_int(arith(n, "-", 0, v.i));
      if (v.kind == Value::TUPLE) {
        for (int64_t &x : v.tuple) x = arith(n, "-", 0, x);
        return v;
      }
      fail(n, "'-' needs an int or a tuple, got " + v.type_name());
    }
    case Node::BINARY: return binary(n, frame);
    case Node::COND: return truth(n, eval(n.kids[0], frame)) ? eval(n.kids[1], frame) : eval(n.kids[2], frame);
    case Node::ATTR: return attr(n, eval(n.kids[0], frame));
    case Node::METHOD: {
      Value obj = eval(n.kids[0], frame);
      std::vector<Value> args;
      for (size_t k = 1; k < n.kids.size(); k++) args.push_back(eval(n.kids[k], frame));
      return method(n, obj, args);
    }
    case Node::CALL: return call(n.name, values(n.kids, 0, frame), n.line);
    case Node::MACHINE: {
      int64_t count = machine_.count(n.name);
      if (count <= 0 || machine_.nodes <= 0) fail(n, "machine has no " + n.name + " processors");
      return Value::of_space(std::make_shared<const Space>(n.name, machine_.nodes, count));
    }
    case Node::INDEX: return index(n, eval(n.kids[0], frame), frame);
    case Node::SLICE: return slice(n, eval(n.kids[0], frame), frame);
    case Node::TUPLE_FOR: {
      Value seq = eval(n.kids[0], frame);
      if (seq.kind != Value::TUPLE) fail(n, "'for ... in' needs a tuple, got " + seq.type_name());
      Tuple out;
      for (int64_t x : seq.tuple) {
        if (n.slot >= (int)frame.size()) frame.resize(n.slot + 1);
        frame[n.slot] = Value::of_int(x);
        out.push_back(want_int(n, eval(n.kids[1], frame), "a tuple element"));
      }
      return Value::of_tuple(std::move(out));
    }
  }
  fail(n, "unknown expression");
}

static bool same_value(const Value &a, const Value &b)
{
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::INT: case Value::BOOL: return a.i == b.i;
    case Value::TUPLE: return a.tuple == b.tuple;
    case Value::PROC: case Value::PROCSET: {
      if (a.procs.size() != b.procs.size()) return false;
      for (size_t k = 0; k < a.procs.size(); k++)
        if (a.procs[k].kind != b.procs[k].kind || a.procs[k].node != b.procs[k].node ||
            a.procs[k].index != b.procs[k].index)
          return false;
      return true;
    }
    case Value::SPACE: return a.space == b.space;
    case Value::TASK: return a.task == b.task;
    case Value::KIND: return a.word == b.word;
    default: return true;
  }
}

Value Evaluator::binary(const Node &n, std::vector<Value> &frame)
{
  const std::string &o = n.name;
  if (o == "&&") return Value::of_bool(truth(n, eval(n.kids[0], frame)) && truth(n, eval(n.kids[1], frame)));
  if (o == "||") return Value::of_bool(truth(n, eval(n.kids[0], frame)) || truth(n, eval(n.kids[1], frame)));
  // A left-nested chain (a + b - c ...) is folded in a loop, so a long flat expression needs no deep stack.
  std::vector<const Node *> spine{&n};
  while (spine.back()->kids[0].op == Node::BINARY && !short_circuit(spine.back()->kids[0].name))
    spine.push_back(&spine.back()->kids[0]);
  Value acc = eval(spine.back()->kids[0], frame);
  for (auto it = spine.rbegin(); it != spine.rend(); ++it) combine(**it, acc, eval((*it)->kids[1], frame));
  return acc;
}

void Evaluator::combine(const Node &n, Value &a, const Value &b)
{
  a = combined(n, std::move(a), b);
}

Value Evaluator::combined(const Node &n, Value a, Value b)
{
  const std::string &o = n.name;
  if (o == "==") return Value::of_bool(same_value(a, b));
  if (o == "!=") return Value::of_bool(!same_value(a, b));
  if (o == "<" || o == "<=" || o == ">" || o == ">=") {
    int64_t x = want_int(n, a, "'" + o + "'"), y = want_int(n, b, "'" + o + "'");
    return Value::of_bool(o == "<" ? x < y : o == "<=" ? x <= y : o == ">" ? x > y : x >= y);
  }
  if (a.kind == Value::INT && b.kind == Value::INT) return Value::of_int(arith(n, o, a.i, b.i));
  if (a.kind == Value::TUPLE && b.kind == Value::TUPLE) {
    if (a.tuple.size() != b.tuple.size())
      fail(n, "'" + o + "' needs tuples of equal length, got " + std::to_string(a.tuple.size()) + " and " +
                  std::to_string(b.tuple.size()));
    for (size_t k = 0; k < a.tuple.size(); k++) a.tuple[k] = arith(n, o, a.tuple[k], b.tuple[k]);
    return a;
  }
  if (a.kind == Value::TUPLE && b.kind == Value::INT) {
    for (int64_t &x : a.tuple) x = arith(n, o, x, b.i);
    return a;
  }
  if (a.kind == Value::INT && b.kind == Value::TUPLE) {
    for (int64_t &y : b.tuple) y = arith(n, o, a.i, y);
    return b;
  }
  fail(n, "'" + o + "' needs ints or tuples, got " + a.type_name() + " and " + b.type_name());
}

int64_t Evaluator::arith(const Node &n, const std::string &o, int64_t a, int64_t b)
{
  int64_t r = 0;
  bool overflow = false;
  if ((o == "/" || o == "%") && b == 0) fail(n, o == "/" ? "division by zero" : "modulo by zero");
  if (o == "+") overflow = __builtin_add_overflow(a, b, &r);
  else if (o == "-") overflow = __builtin_sub_overflow(a, b, &r);
  else if (o == "*") overflow = __builtin_mul_overflow(a, b, &r);
  else if (o == "%") r = b == -1 ? 0 : a % b;  // C++ % truncates like the language's; x % -1 is 0
  else if (o == "/") overflow = (a == INT64_MIN && b == -1), r = overflow ? 0 : a / b;
  else fail(n, "unknown operator '" + o + "'");
  if (overflow) fail(n, "integer overflow in " + std::to_string(a) + " " + o + " " + std::to_string(b));
  return r;
}

Value Evaluator::attr(const Node &n, const Value &v)
{
  const std::string &name = n.name;
  if (v.kind == Value::TASK) {
    if (name == "ipoint") return Value::of_tuple(v.task->ipoint);
    if (name == "ispace") return Value::of_tuple(v.task->ispace);
    if (name == "parent") {
      if (v.task->parent) return Value::of_task(v.task->parent);
      auto p = std::make_shared<TaskView>();
      p->node = v.task->node;
      p->proc = v.task->proc;
      return Value::of_task(p);
    }
  } else if (v.kind == Value::TUPLE || v.kind == Value::SPACE) {
    const Tuple &t = v.kind == Value::TUPLE ? v.tuple : v.space->size();
    if (name == "size") return Value::of_tuple(t);
    if (name == "len") return Value::of_int((int64_t)t.size());
    if (name == "volume") {
      int64_t out = 1;
      for (int64_t x : t) out = arith(n, "*", out, x);
      return Value::of_int(out);
    }
  }
  fail(n, v.type_name() + " has no attribute '." + name + "'");
}

Value Evaluator::method(const Node &n, const Value &obj, const std::vector<Value> &args)
{
  if (n.name == "processor") {
    if (obj.kind != Value::TASK || args.size() != 1 || args[0].kind != Value::SPACE)
      fail(n, "processor(m) is called on a task with one machine space");
    Tuple coords;
    if (!args[0].space->from_base(obj.task->node, obj.task->proc, coords))
      fail(n, "the task's processor (" + std::to_string(obj.task->node) + ", " + std::to_string(obj.task->proc) +
                  ") is not in this machine space");
    return Value::of_tuple(coords);
  }
  if (obj.kind != Value::SPACE) fail(n, "'." + n.name + "()' needs a machine space, got " + obj.type_name());
  Tuple ints;
  const Tuple *list = nullptr;
  for (const Value &a : args) {
    if (a.kind == Value::INT) ints.push_back(a.i);
    else if (a.kind == Value::TUPLE && !list) list = &a.tuple;
    else fail(n, n.name + " takes integer arguments");
  }
  try {
    return Value::of_space(obj.space->transform(n.name, ints, list));
  } catch (const std::invalid_argument &e) {
    fail(n, e.what());
  }
}

Value Evaluator::index(const Node &n, const Value &obj, std::vector<Value> &frame)
{
  if (obj.kind == Value::TUPLE) {
    if (n.items.size() != 1 || n.items[0] != Node::EXPR) fail(n, "a tuple takes exactly one integer index");
    int64_t i = want_int(n, eval(n.kids[1], frame), "an index");
    int64_t len = (int64_t)obj.tuple.size();
    if (i < -len || i >= len)
      fail(n, "index " + std::to_string(i) + " out of range for a tuple of length " + std::to_string(len));
    return Value::of_int(obj.tuple[i < 0 ? i + len : i]);
  }
  if (obj.kind != Value::SPACE) fail(n, "cannot index " + obj.type_name());
  std::vector<std::optional<int64_t>> values;
  for (size_t k = 0; k < n.items.size(); k++) {
    if (n.items[k] == Node::ALL) {
      values.emplace_back();
      continue;
    }
    Value v = eval(n.kids[k + 1], frame);
    if (n.items[k] == Node::SPLAT && v.kind == Value::INT) {
      values.emplace_back(v.i);
    } else if (n.items[k] == Node::SPLAT) {
      if (v.kind != Value::TUPLE) fail(n, "'*' needs a tuple, got " + v.type_name());
      for (int64_t x : v.tuple) values.emplace_back(x);
    } else {
      values.emplace_back(want_int(n, v, "an index"));
    }
  }
  const Tuple &size = obj.space->size();
  if (values.size() != size.size())
    fail(n, "space has " + std::to_string(size.size()) + " dimensions, got " + std::to_string(values.size()) +
                " indices");
  bool any_all = false;
  for (size_t d = 0; d < size.size(); d++) {
    if (!values[d]) { any_all = true; continue; }
    if (*values[d] < 0 || *values[d] >= size[d])
      fail(n, "index " + std::to_string(*values[d]) + " out of range for dimension " + std::to_string(d) +
                  " of size " + std::to_string(size[d]));
  }
  Value out;
  out.kind = any_all ? Value::PROCSET : Value::PROC;
  // Row-major over the `*` dimensions, the last one fastest.
  Tuple idx(size.size());
  for (size_t d = 0; d < size.size(); d++) idx[d] = values[d] ? *values[d] : 0;
  for (;;) {
    auto base = obj.space->to_base(idx);
    out.procs.push_back({obj.space->kind(), base.first, base.second});
    int d = (int)size.size() - 1;
    for (; d >= 0; d--) {
      if (values[d]) continue;
      if (++idx[d] < size[d]) break;
      idx[d] = 0;
    }
    if (d < 0) break;
  }
  return out;
}

Value Evaluator::slice(const Node &n, const Value &obj, std::vector<Value> &frame)
{
  if (obj.kind != Value::TUPLE && obj.kind != Value::SPACE) fail(n, "cannot slice " + obj.type_name());
  const Tuple &t = obj.kind == Value::SPACE ? obj.space->size() : obj.tuple;
  int64_t len = (int64_t)t.size();
  auto bound = [&](bool present, const Node &e, int64_t fallback) {
    if (!present) return fallback;
    int64_t v = want_int(n, eval(e, frame), "a slice bound");
    if (v < 0) v += len;
    return std::min(std::max<int64_t>(v, 0), len);
  };
  int64_t lo = bound(n.has_lo, n.kids[1], 0), hi = bound(n.has_hi, n.kids[2], len);
  return Value::of_tuple(hi > lo ? Tuple(t.begin() + lo, t.begin() + hi) : Tuple());
}

}  // namespace hpcmap

/* Names and print formatting of values. */
#include "value.h"

namespace hpcmap {

std::string Value::type_name() const
{
  switch (kind) {
    case INT: return "an int";
    case BOOL: return "a bool";
    case TUPLE: return "a tuple";
    case SPACE: return "a machine space";
    case TASK: return "a task";
    case PROC: return "a processor";
    case PROCSET: return "a set of processors";
    case KIND: return "a kind";
    default: return "nothing";
  }
}

static std::string tuple_text(const Tuple &t)
{
  std::string out = "(";
  for (size_t k = 0; k < t.size(); k++) out += (k ? ", " : "") + std::to_string(t[k]);
  return out + ")";
}

static std::string proc_text(const Proc &p)
{
  return "proc(" + std::to_string(p.node) + ", " + std::to_string(p.index) + ")";
}

std::string Value::format() const
{
  switch (kind) {
    case INT: return std::to_string(i);
    case BOOL: return i ? "true" : "false";
    case TUPLE: return tuple_text(tuple);
    case SPACE: return "Machine(" + space->kind() + ")" + tuple_text(space->size());
    case PROC: return proc_text(procs[0]);
    case PROCSET: {
      std::string out = "{";
      for (size_t k = 0; k < procs.size(); k++) out += (k ? ", " : "") + proc_text(procs[k]);
      return out + "}";
    }
    case KIND: return word;
    default: return "task";
  }
}

}  // namespace hpcmap

/* Policy IR JSON -> the structures of ir.h. Unknown keys are ignored (IR.md section 1). */
#include "ir.h"

#include <stdexcept>

namespace hpcmap {

namespace {

Node read_node(const Json &j);

std::vector<Node> read_nodes(const Json &list)
{
  std::vector<Node> out;
  for (const Json &x : list.items()) out.push_back(read_node(x));
  return out;
}

const std::pair<const char *, Node::Op> kOps[] = {
    {"int", Node::INT}, {"bool", Node::BOOL}, {"local", Node::LOCAL}, {"global", Node::GLOBAL},
    {"tuple", Node::TUPLE}, {"unary", Node::UNARY}, {"binary", Node::BINARY}, {"cond", Node::COND},
    {"attr", Node::ATTR}, {"method", Node::METHOD}, {"call", Node::CALL}, {"machine", Node::MACHINE},
    {"index", Node::INDEX}, {"slice", Node::SLICE}, {"tuple_for", Node::TUPLE_FOR}, {"kind", Node::KIND},
    {"splat", Node::UNPACK}, {"has", Node::HAS}};

Node read_node(const Json &j)
{
  Node n;
  std::string op = j.get_string("op", "");
  bool known = false;
  for (const auto &k : kOps)
    if (op == k.first) n.op = k.second, known = true;
  if (!known) throw std::runtime_error("unknown expression '" + op + "' in the policy");
  n.line = (int)j.get_int("line", 0);
  switch (n.op) {
    case Node::INT: n.value = j["value"].as_int(); break;
    case Node::BOOL: n.value = j["value"].as_bool(); break;
    case Node::LOCAL: n.slot = (int)j.get_int("slot", 0); break;
    case Node::GLOBAL: n.slot = (int)j.get_int("index", 0); break;
    case Node::TUPLE: n.kids = read_nodes(j["items"]); break;
    case Node::UNARY: n.name = j.get_string("operator", ""); n.kids.push_back(read_node(j["operand"])); break;
    case Node::BINARY:
      n.name = j.get_string("operator", "");
      n.kids.push_back(read_node(j["left"]));
      n.kids.push_back(read_node(j["right"]));
      break;
    case Node::COND:
      n.kids.push_back(read_node(j["cond"]));
      n.kids.push_back(read_node(j["then"]));
      n.kids.push_back(read_node(j["else"]));
      break;
    case Node::ATTR: n.name = j.get_string("name", ""); n.kids.push_back(read_node(j["obj"])); break;
    case Node::METHOD:
      n.name = j.get_string("name", "");
      n.kids.push_back(read_node(j["obj"]));
      for (Node &a : read_nodes(j["args"])) n.kids.push_back(std::move(a));
      break;
    case Node::CALL: n.name = j.get_string("function", ""); n.kids = read_nodes(j["args"]); break;
    case Node::MACHINE: n.name = j.get_string("kind", ""); break;
    case Node::INDEX:
      n.kids.push_back(read_node(j["obj"]));
      for (const Json &it : j["items"].items()) {
        std::string kind = it.get_string("kind", "expr");
        if (kind == "all") {
          n.items.push_back(Node::ALL);
          n.kids.emplace_back();  // placeholder keeps kids[k + 1] aligned with items[k]
        } else {
          n.items.push_back(kind == "splat" ? Node::SPLAT : Node::EXPR);
          n.kids.push_back(read_node(it["expr"]));
        }
      }
      break;
    case Node::SLICE:
      n.kids.push_back(read_node(j["obj"]));
      n.has_lo = !j["lo"].is_null();
      n.has_hi = !j["hi"].is_null();
      n.kids.push_back(n.has_lo ? read_node(j["lo"]) : Node());
      n.kids.push_back(n.has_hi ? read_node(j["hi"]) : Node());
      break;
    case Node::TUPLE_FOR:
      n.slot = (int)j.get_int("slot", 0);
      n.kids.push_back(read_node(j["iter"]));
      n.kids.push_back(read_node(j["body"]));
      break;
    case Node::KIND: n.name = j.get_string("value", ""); break;
    case Node::UNPACK: n.kids.push_back(read_node(j["expr"])); break;
    case Node::HAS:
      n.name = j.get_string("memory", "");
      n.kids.push_back(read_node(j["obj"]));
      n.has_lo = !j["index"].is_null();
      n.kids.push_back(n.has_lo ? read_node(j["index"]) : Node());
      break;
  }
  return n;
}

RegionKey read_region(const Json &j)
{
  RegionKey k;
  if (j.is_int()) {
    k.kind = RegionKey::INDEX;
    k.index = j.as_int();
  } else if (j.is_string() && j.as_string() != "*") {
    k.kind = RegionKey::NAME;
    k.name = j.as_string();
  }
  return k;
}

std::vector<std::string> read_strings(const Json &list)
{
  std::vector<std::string> out;
  for (const Json &x : list.items()) out.push_back(x.as_string());
  return out;
}

void read_rule(const Json &j, Rule &r)
{
  r.line = (int)j.get_int("line", 0);
  r.order = (int)j.get_int("order", 0);
  r.rank = (int)j.get_int("rank", 0);
}

std::vector<TaskListRule> read_lists(const Json &list)
{
  std::vector<TaskListRule> out;
  for (const Json &j : list.items()) {
    TaskListRule r;
    read_rule(j, r);
    r.tasks = read_strings(j["tasks"]);
    r.function = j.get_string("function", "");
    r.scope = j.get_string("scope", "");
    out.push_back(r);
  }
  return out;
}

Stmt read_stmt(const Json &j)
{
  Stmt s;
  std::string op = j.get_string("op", "");
  s.line = (int)j.get_int("line", 0);
  if (op == "assign") {
    s.op = Stmt::ASSIGN;
    s.slot = (int)j.get_int("slot", 0);
    s.expr = read_node(j["expr"]);
  } else if (op == "return") {
    s.op = Stmt::RETURN;
    s.expr = read_node(j["expr"]);
  } else if (op == "print") {
    s.op = Stmt::PRINT;
    s.format = j.get_string("format", "");
    s.args = read_nodes(j["args"]);
  } else {
    throw std::runtime_error("unknown statement '" + op + "' in the policy");
  }
  return s;
}

}  // namespace

const Function *Ir::function(const std::string &name) const
{
  for (const Function &f : functions)
    if (f.name == name) return &f;
  return nullptr;
}

Ir read_ir(const Json &doc)
{
  if (!doc.is_object()) throw std::runtime_error("the policy is not a JSON object");
  if (doc.get_int("version", -1) != 1)
    throw std::runtime_error("policy IR version " + std::to_string(doc.get_int("version", -1)) +
                             " is not supported (expected 1)");
  Ir ir;
  ir.source = doc.get_string("source", "<policy>");
  for (const Json &j : doc["tasks"].items()) {
    TaskRule r;
    read_rule(j, r);
    r.task = j.get_string("task", "*");
    r.kinds = read_strings(j["kinds"]);
    ir.tasks.push_back(r);
  }
  for (const Json &j : doc["regions"].items()) {
    RegionRule r;
    read_rule(j, r);
    r.task = j.get_string("task", "*");
    r.region = read_region(j["region"]);
    r.processor = j.get_string("processor", "*");
    r.memories = read_strings(j["memories"]);
    ir.regions.push_back(r);
  }
  for (const Json &j : doc["layouts"].items()) {
    LayoutRule r;
    read_rule(j, r);
    r.task = j.get_string("task", "*");
    r.region = read_region(j["region"]);
    r.target = j.get_string("target", "*");
    r.target_class = j.get_string("target_class", "any");
    const Json &c = j["constraints"];
    r.field_order = c.get_string("field_order", "");
    r.dim_order = c.get_string("dim_order", "");
    for (const Json &a : c["align"].items()) r.align.push_back({a.get_string("op", "=="), a.get_int("bytes", 0)});
    r.compact = c["compact"].is_bool() && c["compact"].as_bool();
    r.exact = c["exact"].is_bool() && c["exact"].as_bool();
    ir.layouts.push_back(r);
  }
  for (const Json &j : doc["instance_limits"].items()) {
    LimitRule r;
    read_rule(j, r);
    r.task = j.get_string("task", "");
    r.limit = j.get_int("limit", 0);
    ir.instance_limits.push_back(r);
  }
  for (const Json &j : doc["collect"].items()) {
    CollectRule r;
    read_rule(j, r);
    r.task = j.get_string("task", "*");
    r.region = read_region(j["region"]);
    ir.collect.push_back(r);
  }
  ir.index_maps = read_lists(doc["index_maps"]);
  ir.single_maps = read_lists(doc["single_maps"]);
  ir.control_replicate = read_lists(doc["control_replicate"]);
  ir.task_steal = read_lists(doc["task_steal"]);
  for (const Json &j : doc["globals"].items()) {
    Global g;
    g.name = j.get_string("name", "");
    g.expr = read_node(j["expr"]);
    g.nslots = (size_t)j.get_int("nslots", 0);
    g.line = (int)j.get_int("line", 0);
    ir.globals.push_back(std::move(g));
  }
  for (const auto &[name, j] : doc["functions"].members()) {
    Function f;
    f.name = name;
    f.line = (int)j.get_int("line", 0);
    f.nparams = j["params"].size();
    f.nslots = (size_t)j.get_int("nslots", (int64_t)f.nparams);
    for (const Json &s : j["body"].items()) f.body.push_back(read_stmt(s));
    ir.functions.push_back(std::move(f));
  }
  for (const Json &j : doc["prints"].items()) {
    TopPrint p;
    p.format = j.get_string("format", "");
    p.args = read_nodes(j["args"]);
    p.nslots = (size_t)j.get_int("nslots", 0);
    p.line = (int)j.get_int("line", 0);
    ir.prints.push_back(std::move(p));
  }
  return ir;
}

}  // namespace hpcmap

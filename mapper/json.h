/* A minimal JSON reader: enough for the policy IR (objects, arrays, strings, int64, bools, null). */
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace hpcmap {

class Json {
public:
  enum Type { NUL, BOOL, INT, DOUBLE, STRING, ARRAY, OBJECT };

  Json() = default;
  static Json parse(const std::string &text);  // throws std::runtime_error

  Type type() const { return type_; }
  bool is_null() const { return type_ == NUL; }
  bool is_int() const { return type_ == INT; }
  bool is_string() const { return type_ == STRING; }
  bool is_array() const { return type_ == ARRAY; }
  bool is_object() const { return type_ == OBJECT; }
  bool is_bool() const { return type_ == BOOL; }

  int64_t as_int() const;
  bool as_bool() const;
  const std::string &as_string() const;
  const std::vector<Json> &items() const;               // array elements
  const std::map<std::string, Json> &members() const;   // object members

  bool has(const std::string &key) const;
  const Json &operator[](const std::string &key) const;  // null Json when absent
  const Json &operator[](size_t i) const { return items().at(i); }
  size_t size() const { return type_ == ARRAY ? array_->size() : type_ == OBJECT ? object_->size() : 0; }

  // Convenience readers with a fallback for absent keys.
  int64_t get_int(const std::string &key, int64_t fallback) const;
  std::string get_string(const std::string &key, const std::string &fallback) const;

private:
  friend class JsonParser;
  Type type_ = NUL;
  bool bool_ = false;
  int64_t int_ = 0;
  double double_ = 0;
  std::string string_;
  std::shared_ptr<std::vector<Json>> array_;
  std::shared_ptr<std::map<std::string, Json>> object_;
};

}  // namespace hpcmap

/* Recursive-descent JSON parser for json.h. */
#include "json.h"

#include <cstdlib>
#include <cstring>

namespace hpcmap {

class JsonParser {
public:
  explicit JsonParser(const std::string &text) : s_(text) {}

  Json document()
  {
    Json v = value();
    skip_space();
    if (pos_ != s_.size()) fail("trailing characters");
    return v;
  }

private:
  const std::string &s_;
  size_t pos_ = 0;

  [[noreturn]] void fail(const std::string &what)
  {
    throw std::runtime_error("invalid JSON at offset " + std::to_string(pos_) + ": " + what);
  }

  void skip_space()
  {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) pos_++;
  }

  char peek()
  {
    skip_space();
    if (pos_ >= s_.size()) fail("unexpected end");
    return s_[pos_];
  }

  void expect(char c)
  {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    pos_++;
  }

  bool literal(const char *word)
  {
    size_t n = strlen(word);
    if (s_.compare(pos_, n, word) != 0) return false;
    pos_ += n;
    return true;
  }

  Json value()
  {
    Json v;
    char c = peek();
    if (c == '{') {
      pos_++;
      v.type_ = Json::OBJECT;
      v.object_ = std::make_shared<std::map<std::string, Json>>();
      if (peek() == '}') { pos_++; return v; }
      for (;;) {
        if (peek() != '"') fail("expected a key");
        std::string key = string();
        expect(':');
        (*v.object_)[key] = value();
        if (peek() == ',') { pos_++; continue; }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      pos_++;
      v.type_ = Json::ARRAY;
      v.array_ = std::make_shared<std::vector<Json>>();
      if (peek() == ']') { pos_++; return v; }
      for (;;) {
        v.array_->push_back(value());
        if (peek() == ',') { pos_++; continue; }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.type_ = Json::STRING;
      v.string_ = string();
      return v;
    }
    if (literal("true")) { v.type_ = Json::BOOL; v.bool_ = true; return v; }
    if (literal("false")) { v.type_ = Json::BOOL; return v; }
    if (literal("null")) return v;
    return number();
  }

  Json number()
  {
    size_t start = pos_;
    if (s_[pos_] == '-') pos_++;
    bool integral = true;
    while (pos_ < s_.size() && strchr("0123456789.eE+-", s_[pos_])) {
      if (strchr(".eE", s_[pos_])) integral = false;
      pos_++;
    }
    std::string text = s_.substr(start, pos_ - start);
    if (text.empty() || text == "-") fail("expected a value");
    Json v;
    if (integral) {
      v.type_ = Json::INT;
      v.int_ = strtoll(text.c_str(), nullptr, 10);
    } else {
      v.type_ = Json::DOUBLE;
      v.double_ = strtod(text.c_str(), nullptr);
    }
    return v;
  }

  void utf8(std::string &out, unsigned cp)
  {
    if (cp < 0x80) out += char(cp);
    else if (cp < 0x800) { out += char(0xC0 | (cp >> 6)); out += char(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18)); out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F));
    }
  }

  unsigned hex4()
  {
    if (pos_ + 4 > s_.size()) fail("short \\u escape");
    unsigned cp = strtoul(s_.substr(pos_, 4).c_str(), nullptr, 16);
    pos_ += 4;
    return cp;
  }

  std::string string()
  {
    expect('"');
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c != '\\') { out += c; continue; }
      if (pos_ >= s_.size()) break;
      char e = s_[pos_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && s_.compare(pos_, 2, "\\u") == 0) {
            pos_ += 2;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4() - 0xDC00);
          }
          utf8(out, cp);
          break;
        }
        default: out += e;  // \" \\ \/
      }
    }
    if (pos_ >= s_.size()) fail("unterminated string");
    pos_++;
    return out;
  }
};

Json Json::parse(const std::string &text) { return JsonParser(text).document(); }

static const Json &null_json()
{
  static const Json null;
  return null;
}

int64_t Json::as_int() const
{
  if (type_ == INT) return int_;
  if (type_ == BOOL) return bool_;
  throw std::runtime_error("JSON value is not an integer");
}

bool Json::as_bool() const
{
  if (type_ == BOOL) return bool_;
  if (type_ == INT) return int_ != 0;
  throw std::runtime_error("JSON value is not a boolean");
}

const std::string &Json::as_string() const
{
  if (type_ != STRING) throw std::runtime_error("JSON value is not a string");
  return string_;
}

const std::vector<Json> &Json::items() const
{
  static const std::vector<Json> empty;
  return type_ == ARRAY ? *array_ : empty;
}

const std::map<std::string, Json> &Json::members() const
{
  static const std::map<std::string, Json> empty;
  return type_ == OBJECT ? *object_ : empty;
}

bool Json::has(const std::string &key) const { return type_ == OBJECT && object_->count(key); }

const Json &Json::operator[](const std::string &key) const
{
  if (type_ != OBJECT) return null_json();
  auto it = object_->find(key);
  return it == object_->end() ? null_json() : it->second;
}

int64_t Json::get_int(const std::string &key, int64_t fallback) const
{
  const Json &v = (*this)[key];
  return v.is_int() ? v.int_ : fallback;
}

std::string Json::get_string(const std::string &key, const std::string &fallback) const
{
  const Json &v = (*this)[key];
  return v.is_string() ? v.string_ : fallback;
}

}  // namespace hpcmap

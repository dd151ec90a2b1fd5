// RAII owners of librpm handles, and a scope that captures what librpm logs.
// Private to core/pkgdb: nothing outside this directory sees an rpm type.
#pragma once

#include <rpm/header.h>
#include <rpm/rpmdb.h>
#include <rpm/rpmfiles.h>
#include <rpm/rpmio.h>
#include <rpm/rpmlog.h>
#include <rpm/rpmts.h>

#include <memory>
#include <string>
#include <vector>

namespace pkgunify::rpm {

struct TsDeleter
{
  void
  operator()(rpmts ts) const
  {
    rpmtsFree(ts);
  }
};
using Ts = std::unique_ptr<std::remove_pointer_t<rpmts>, TsDeleter>;

struct IteratorDeleter
{
  void
  operator()(rpmdbMatchIterator mi) const
  {
    rpmdbFreeIterator(mi);
  }
};
using Iterator = std::unique_ptr<std::remove_pointer_t<rpmdbMatchIterator>, IteratorDeleter>;

struct FilesDeleter
{
  void
  operator()(rpmfiles files) const
  {
    rpmfilesFree(files);
  }
};
using Files = std::unique_ptr<std::remove_pointer_t<rpmfiles>, FilesDeleter>;

struct FiDeleter
{
  void
  operator()(rpmfi fi) const
  {
    rpmfiFree(fi);
  }
};
using Fi = std::unique_ptr<std::remove_pointer_t<rpmfi>, FiDeleter>;

struct HeaderDeleter
{
  void
  operator()(Header h) const
  {
    headerFree(h);
  }
};
using HeaderPtr = std::unique_ptr<std::remove_pointer_t<Header>, HeaderDeleter>;

struct FdDeleter
{
  void
  operator()(FD_t fd) const
  {
    Fclose(fd);
  }
};
using Fd = std::unique_ptr<std::remove_pointer_t<FD_t>, FdDeleter>;

// Collects the error messages librpm logs while it lives, instead of letting
// librpm print them, and restores the previous callback afterwards.
class LogCapture
{
public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  [[nodiscard]] bool
  has_errors() const
  {
    return !m_errors.empty();
  }
  // "msg1; msg2" without trailing newlines.
  [[nodiscard]] std::string errors() const;

private:
  static int callback(rpmlogRec rec, rpmlogCallbackData data);

  std::vector<std::string> m_errors;
  rpmlogCallback m_previous = nullptr;
  rpmlogCallbackData m_previous_data = nullptr;
};

// Reads rpm's configuration once per process.
void init();

}  // namespace pkgunify::rpm

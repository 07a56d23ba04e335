// Durable replacement of a small file; see durable_file.hpp.
#include "actors/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ftsr {

caf::error write_file_durably(const std::string& dir, const std::string& name,
                              const char* data, size_t size, errc code) {
  auto path = dir + "/" + name;
  auto tmp = path + ".tmp";
  auto fail = [code](const std::string& file) {
    return make_error(code, "cannot write " + file + ": "
                              + std::strerror(errno));
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return fail(tmp);
  bool ok = ::write(fd, data, size) == static_cast<ssize_t>(size)
            && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    return fail(path);
  // The rename itself must survive a crash too.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return caf::none;
}

} // namespace ftsr

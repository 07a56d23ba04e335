// Durable replacement of a small file; see durable_file.hpp.
#include "actors/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>

#include <boost/crc.hpp>

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

namespace {

constexpr size_t magic_size = 8;
constexpr size_t header_size = magic_size + 8 + 4;

uint32_t crc32_of(const char* data, size_t size) {
  boost::crc_32_type crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

void put_le(std::vector<char>& out, uint64_t x, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xFF));
}

uint64_t get_le(const char* p, size_t bytes) {
  uint64_t x = 0;
  for (size_t i = 0; i < bytes; ++i)
    x |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return x;
}

} // namespace

caf::error write_framed_file(const std::string& dir, const std::string& name,
                             const std::string& magic,
                             const std::vector<char>& payload) {
  if (magic.size() != magic_size)
    return make_error(errc::invalid_argument,
                      "framed file " + name + ": magic '" + magic
                        + "' is not 8 bytes");
  std::vector<char> buf{magic.begin(), magic.end()};
  buf.reserve(header_size + payload.size());
  put_le(buf, payload.size(), 8);
  put_le(buf, crc32_of(payload.data(), payload.size()), 4);
  buf.insert(buf.end(), payload.begin(), payload.end());
  return write_file_durably(dir, name, buf.data(), buf.size(),
                            errc::storage_error);
}

caf::expected<std::optional<std::vector<char>>>
read_framed_file(const std::string& dir, const std::string& name,
                 const std::string& magic) {
  auto path = dir + "/" + name;
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    if (errno == ENOENT)
      return std::optional<std::vector<char>>{};
    return make_error(errc::storage_error,
                      "cannot read " + path + ": " + std::strerror(errno));
  }
  std::vector<char> buf{std::istreambuf_iterator<char>{in},
                        std::istreambuf_iterator<char>{}};
  if (in.bad())
    return make_error(errc::storage_error, "cannot read " + path);
  auto corrupted = [&](const std::string& what) {
    return make_error(errc::corrupted, path + " is damaged: " + what);
  };
  if (buf.size() < header_size)
    return corrupted(std::to_string(buf.size())
                     + " bytes, shorter than its header ("
                     + std::to_string(header_size) + " bytes)");
  if (std::string(buf.data(), magic_size) != magic)
    return corrupted("not a '" + magic + "' file (wrong magic or version)");
  auto size = get_le(buf.data() + magic_size, 8);
  if (size != buf.size() - header_size)
    return corrupted("its header says " + std::to_string(size)
                     + " bytes of content, it holds "
                     + std::to_string(buf.size() - header_size));
  auto crc = static_cast<uint32_t>(get_le(buf.data() + magic_size + 8, 4));
  if (crc != crc32_of(buf.data() + header_size, size))
    return corrupted("checksum mismatch");
  buf.erase(buf.begin(), buf.begin() + header_size);
  return std::optional<std::vector<char>>{std::move(buf)};
}

} // namespace ftsr

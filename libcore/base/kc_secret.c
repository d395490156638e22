#include "kc_secret.h"
#include "kc_err.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int kc_secret_read_file(const char *path, char *out, size_t out_size, char *errstr,
                        size_t errstr_size)
{
    struct stat st;
    ssize_t n;
    size_t len;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "cannot read %s: %s", path,
                         strerror(errno));
    }
    if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
        close(fd);
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "%s: a secret file must not be accessible to group or others (chmod "
                         "600)",
                         path);
    }
    n = read(fd, out, out_size);
    close(fd);
    if (n < 0 || (size_t)n >= out_size) {
        memset(out, 0, out_size);
        return kc_seterr(n < 0 ? KC_ERR_IO : KC_ERR_TOOBIG, errstr, errstr_size, "%s: %s", path,
                         n < 0 ? strerror(errno) : "secret too long (refused, not cut)");
    }
    out[n] = '\0';              /* before any string function looks at it */
    len = strcspn(out, "\r\n"); /* first line only */
    while (len > 0 && (out[len - 1] == ' ' || out[len - 1] == '\t')) {
        len--;
    }
    out[len] = '\0';
    if (len == 0) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "%s is empty", path);
    }
    return 0;
}

package localstack

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr {
	// Pdeathsig fires when the OS thread that started the child exits; the Go
	// runtime keeps its threads unless a goroutine exits while locked to one.
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// listensOn reports whether pid owns the socket listening on 127.0.0.1:port.
func listensOn(pid, port int) bool {
	inode := listenInode(port)
	if inode == "" {
		return false
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	want := "socket:[" + inode + "]"
	for _, fd := range fds {
		if target, err := os.Readlink(dir + "/" + fd.Name()); err == nil && target == want {
			return true
		}
	}
	return false
}

// listenInode returns the inode of the socket listening on 127.0.0.1:port.
func listenInode(port int) string {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	local := fmt.Sprintf("0100007F:%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) > 9 && fields[1] == local && fields[3] == "0A" {
			if _, err := strconv.ParseUint(fields[9], 10, 64); err == nil {
				return fields[9]
			}
		}
	}
	return ""
}

package dev.dbtoken;

/** The status of a failed call; the numbers are the C ABI's and never change. */
public enum Status {
    OK(0), INVALID_ARGUMENT(1), BUFFER_TOO_SMALL(2), CONFIG(3), FEDERATED_TOKEN(4),
    REJECTED(5), TRANSIENT(6), IO(7), PANIC(8), UNKNOWN(-1);

    private final int code;

    Status(int code) { this.code = code; }

    /** The C ABI's number (3 to 6 equal the dbtoken command's exit codes). */
    public int code() { return code; }

    static Status of(int code) {
        for (Status s : values()) {
            if (s.code == code) return s;
        }
        return UNKNOWN;
    }
}

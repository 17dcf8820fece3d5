package dev.dbtoken;

/** A failed dbtoken call: the status, a message that says what to fix (never a token), and,
 * when the server refused, its HTTP status and OAuth {@code error}/{@code error_description}. */
public final class DbTokenException extends Exception {
    private static final long serialVersionUID = 1L;
    private final Status status;
    private final int httpStatus;
    private final String serverError;
    private final String serverDescription;

    DbTokenException(int status, String message, int httpStatus, String serverError, String serverDescription) {
        super(message);
        this.status = Status.of(status);
        this.httpStatus = httpStatus;
        this.serverError = serverError;
        this.serverDescription = serverDescription;
    }

    public Status status() { return status; }

    /** The server's HTTP status, or 0 when the failure was not an HTTP answer. */
    public int httpStatus() { return httpStatus; }

    /** The server's OAuth {@code error}, or null. */
    public String serverError() { return serverError; }

    /** The server's {@code error_description}, or null. */
    public String serverDescription() { return serverDescription; }
}

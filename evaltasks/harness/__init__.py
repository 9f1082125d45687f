"""The harness: everything that runs inside the evaluation container.

Only the standard library and ``requests`` may be imported here, because this
package is copied into the harness image on its own.
"""

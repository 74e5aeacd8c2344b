"""SuperOffice's hooks: what vendors/superoffice.toml cannot say as data."""

from __future__ import annotations

from sync.connectors.rest import RestConnector


class SuperOffice(RestConnector):
    def remember_boundary(self) -> bool:
        """With SO-TimeZone the archive's times are local times, which cannot be held against
        the server's clock (its Date header, in UTC): the boundary is read again each time."""
        return not self.options.timezone

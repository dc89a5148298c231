kubectl create secret generic carto-postgresql --from-file=password=secrets/carto-postgresql.password --from-file=admin-password=secrets/carto-postgresql.admin-password
kubectl create secret tls carto-router-tls --cert=secrets/carto-router-tls.crt --key=secrets/carto-router-tls.key
kubectl create secret generic carto-app-secrets --from-file=azure-storage-access-key=secrets/carto-app-secrets.azure-storage-access-key --from-file=google-maps-api-key=secrets/carto-app-secrets.google-maps-api-key
